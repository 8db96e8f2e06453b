/**
 * The part of Pandora FMS's schema the lab creates on its master, as the console installer does
 * on a real cluster (the server packages carry no schema): the tables pandora_ha writes (tevento;
 * tdatabase, the console's Manage HA view), the split-brain merge reads (tagente_datos,
 * tagente_datos_string) and the lab's stand-in data server writes (tagente, tagente_modulo,
 * tagente_estado, the data tables, tserver, tevento).
 *
 * Columns, types, defaults and keys are the real ones (facts, not code):
 *   - tevento, tagente_datos, tagente_datos_string: ../shared/reference/pandora-server-facts.md
 *     (pandoradb.sql of 7.0NG.776); tdatabase: pandora-ha-facts.md.
 *   - tagente, tagente_modulo, tagente_estado, tserver: pandora_console/pandoradb.sql of the
 *     public repository pandorafms/pandorafms, with the changes its upgrade scripts up to
 *     7.0NG.776 make to them (tagente.transactional_agent dropped, with tevento.event_custom_id
 *     added; tagente_modulo.disabled_by_safe_mode and tserver.disabled added, with
 *     tdatabase.disabled).
 * Created through the master, so they replicate.
 */

export const TEVENTO_EVENT_TYPES = [
  "going_unknown", "unknown", "alert_fired", "alert_recovered", "alert_ceased", "alert_manual_validation", "recon_host_detected", "system", "error",
  "new_agent", "going_up_warning", "going_up_critical", "going_down_warning", "going_down_normal", "going_down_critical", "going_up_normal",
  "configuration_change", "ncm",
];

const TDATABASE = `CREATE TABLE IF NOT EXISTS tdatabase (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, host VARCHAR(255) DEFAULT '', label VARCHAR(255) DEFAULT '',
  os_port INT UNSIGNED NOT NULL DEFAULT 22, os_user VARCHAR(255) DEFAULT '', db_port INT UNSIGNED NOT NULL DEFAULT 3306,
  status TINYINT UNSIGNED DEFAULT 0, action TINYINT UNSIGNED DEFAULT 0, ssh_key TEXT, ssh_pubkey TEXT, last_error TEXT,
  ssh_status TINYINT UNSIGNED DEFAULT 0, db_status TINYINT UNSIGNED DEFAULT 0, replication_status TINYINT UNSIGNED DEFAULT 0,
  replication_delay BIGINT DEFAULT 0, master TINYINT UNSIGNED DEFAULT 0, utimestamp BIGINT DEFAULT 0,
  mysql_version VARCHAR(10) DEFAULT '', pandora_version VARCHAR(10) DEFAULT '', disabled TINYINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const TEVENTO = `CREATE TABLE IF NOT EXISTS tevento (
  id_evento BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, id_agente INT NOT NULL DEFAULT 0, id_usuario VARCHAR(255) NOT NULL DEFAULT '0',
  id_grupo MEDIUMINT NOT NULL DEFAULT 0, estado TINYINT UNSIGNED NOT NULL DEFAULT 0, timestamp DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00',
  evento TEXT, utimestamp BIGINT NOT NULL DEFAULT 0,
  event_type ENUM(${TEVENTO_EVENT_TYPES.map((t) => `'${t}'`).join(",")}) DEFAULT 'unknown',
  id_agentmodule INT NOT NULL DEFAULT 0, id_alert_am INT NOT NULL DEFAULT 0, criticity INT UNSIGNED NOT NULL DEFAULT 0, tags TEXT,
  source TINYTEXT, id_extra TINYTEXT, critical_instructions TEXT, warning_instructions TEXT, unknown_instructions TEXT,
  owner_user VARCHAR(100) NOT NULL DEFAULT '', ack_utimestamp BIGINT NOT NULL DEFAULT 0, custom_data TEXT, data TINYTEXT,
  module_status INT NOT NULL DEFAULT 0, event_custom_id TEXT,
  PRIMARY KEY (id_evento), KEY idx_agente (id_agente), KEY idx_agentmodule (id_agentmodule), KEY idx_utimestamp (utimestamp) USING BTREE,
  KEY agente_modulo_estado (estado, id_agentmodule)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const TAGENTE_DATOS = `CREATE TABLE IF NOT EXISTS tagente_datos (
  id_agente_modulo INT UNSIGNED NOT NULL DEFAULT 0, datos DOUBLE DEFAULT NULL, utimestamp BIGINT DEFAULT 0,
  KEY data_index1 (id_agente_modulo, utimestamp), KEY idx_utimestamp (utimestamp) USING BTREE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const TAGENTE_DATOS_STRING = `CREATE TABLE IF NOT EXISTS tagente_datos_string (
  id_agente_modulo INT UNSIGNED NOT NULL DEFAULT 0, datos MEDIUMTEXT, utimestamp INT UNSIGNED NOT NULL DEFAULT 0,
  KEY data_string_index_1 (id_agente_modulo, utimestamp), KEY idx_utimestamp (utimestamp) USING BTREE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const TAGENTE = `CREATE TABLE IF NOT EXISTS tagente (
  id_agente INT UNSIGNED NOT NULL AUTO_INCREMENT, nombre VARCHAR(600) NOT NULL DEFAULT '', direccion VARCHAR(100) DEFAULT NULL,
  comentarios VARCHAR(255) DEFAULT '', id_grupo INT UNSIGNED NOT NULL DEFAULT 0, ultimo_contacto DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00',
  modo TINYINT NOT NULL DEFAULT 0, intervalo INT UNSIGNED NOT NULL DEFAULT 300, id_os INT UNSIGNED DEFAULT 0, os_version VARCHAR(100) DEFAULT '',
  agent_version VARCHAR(100) DEFAULT '', ultimo_contacto_remoto DATETIME DEFAULT '1970-01-01 00:00:00', disabled TINYINT NOT NULL DEFAULT 0,
  remote TINYINT NOT NULL DEFAULT 0, id_parent INT UNSIGNED DEFAULT 0, custom_id VARCHAR(255) DEFAULT '', server_name VARCHAR(100) DEFAULT '',
  cascade_protection TINYINT NOT NULL DEFAULT 0, cascade_protection_module INT UNSIGNED NOT NULL DEFAULT 0,
  timezone_offset TINYINT NULL DEFAULT 0, icon_path VARCHAR(127) NULL DEFAULT NULL, update_gis_data TINYINT NOT NULL DEFAULT 1,
  url_address MEDIUMTEXT NULL, quiet TINYINT NOT NULL DEFAULT 0, normal_count BIGINT NOT NULL DEFAULT 0, warning_count BIGINT NOT NULL DEFAULT 0,
  critical_count BIGINT NOT NULL DEFAULT 0, unknown_count BIGINT NOT NULL DEFAULT 0, notinit_count BIGINT NOT NULL DEFAULT 0,
  total_count BIGINT NOT NULL DEFAULT 0, fired_count BIGINT NOT NULL DEFAULT 0, update_module_count TINYINT NOT NULL DEFAULT 0,
  update_alert_count TINYINT NOT NULL DEFAULT 0, update_secondary_groups TINYINT NOT NULL DEFAULT 0, alias VARCHAR(600) NOT NULL DEFAULT '',
  alias_as_name TINYINT NOT NULL DEFAULT 0, safe_mode_module INT UNSIGNED NOT NULL DEFAULT 0, cps INT NOT NULL DEFAULT 0,
  satellite_server INT NOT NULL DEFAULT 0, fixed_ip TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (id_agente), KEY nombre (nombre(255)), KEY direccion (direccion), KEY disabled (disabled), KEY id_grupo (id_grupo)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const TAGENTE_ESTADO = `CREATE TABLE IF NOT EXISTS tagente_estado (
  id_agente_estado INT UNSIGNED NOT NULL AUTO_INCREMENT, id_agente_modulo INT NOT NULL DEFAULT 0, datos MEDIUMTEXT,
  timestamp DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00', estado INT NOT NULL DEFAULT 0, known_status TINYINT DEFAULT 0,
  id_agente INT NOT NULL DEFAULT 0, last_try DATETIME DEFAULT NULL, utimestamp BIGINT NOT NULL DEFAULT 0, current_interval INT UNSIGNED NOT NULL DEFAULT 0,
  running_by SMALLINT UNSIGNED DEFAULT 0, last_execution_try BIGINT NOT NULL DEFAULT 0, status_changes TINYINT UNSIGNED DEFAULT 0,
  last_status TINYINT DEFAULT 0, last_known_status TINYINT DEFAULT 0, last_error INT NOT NULL DEFAULT 0, ff_start_utimestamp BIGINT DEFAULT 0,
  ff_normal INT UNSIGNED DEFAULT 0, ff_warning INT UNSIGNED DEFAULT 0, ff_critical INT UNSIGNED DEFAULT 0, last_dynamic_update BIGINT NOT NULL DEFAULT 0,
  last_unknown_update BIGINT NOT NULL DEFAULT 0, last_status_change BIGINT NOT NULL DEFAULT 0, warning_count INT UNSIGNED DEFAULT 0,
  PRIMARY KEY (id_agente_estado), KEY status_index_1 (id_agente_modulo), KEY idx_agente (id_agente), KEY running_by (running_by)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const TAGENTE_MODULO = `CREATE TABLE IF NOT EXISTS tagente_modulo (
  id_agente_modulo INT UNSIGNED NOT NULL AUTO_INCREMENT, id_agente INT UNSIGNED NOT NULL DEFAULT 0, id_tipo_modulo SMALLINT NOT NULL DEFAULT 0,
  descripcion TEXT, extended_info TEXT, nombre TEXT, unit TEXT, id_policy_module INT UNSIGNED NOT NULL DEFAULT 0, max BIGINT DEFAULT 0,
  min BIGINT DEFAULT 0, module_interval INT UNSIGNED DEFAULT 0, cron_interval VARCHAR(100) DEFAULT '', module_ff_interval INT UNSIGNED DEFAULT 0,
  tcp_port INT UNSIGNED DEFAULT 0, tcp_send TEXT, tcp_rcv TEXT, snmp_community VARCHAR(100) DEFAULT '', snmp_oid VARCHAR(255) DEFAULT '0',
  ip_target VARCHAR(100) DEFAULT '', id_module_group INT UNSIGNED DEFAULT 0, flag TINYINT UNSIGNED DEFAULT 1, id_modulo INT UNSIGNED DEFAULT 0,
  disabled TINYINT UNSIGNED NOT NULL DEFAULT 0, id_export SMALLINT UNSIGNED DEFAULT 0, plugin_user TEXT, plugin_pass TEXT, plugin_parameter TEXT,
  id_plugin INT DEFAULT 0, post_process DOUBLE DEFAULT 0, prediction_module BIGINT DEFAULT 0, max_timeout INT UNSIGNED DEFAULT 0,
  max_retries INT UNSIGNED DEFAULT 0, custom_id VARCHAR(255) DEFAULT '', history_data TINYINT UNSIGNED DEFAULT 1, min_warning DOUBLE DEFAULT 0,
  max_warning DOUBLE DEFAULT 0, str_warning TEXT, min_critical DOUBLE DEFAULT 0, max_critical DOUBLE DEFAULT 0, str_critical TEXT,
  min_ff_event INT UNSIGNED DEFAULT 0, delete_pending INT UNSIGNED DEFAULT 0, policy_linked TINYINT UNSIGNED NOT NULL DEFAULT 0,
  policy_adopted TINYINT UNSIGNED NOT NULL DEFAULT 0, custom_string_1 MEDIUMTEXT, custom_string_2 TEXT, custom_string_3 TEXT,
  custom_integer_1 INT DEFAULT 0, custom_integer_2 INT DEFAULT 0, wizard_level ENUM('basic','advanced','nowizard') DEFAULT 'nowizard',
  macros TEXT, critical_instructions TEXT, warning_instructions TEXT, unknown_instructions TEXT, quiet TINYINT NOT NULL DEFAULT 0,
  critical_inverse TINYINT UNSIGNED DEFAULT 0, warning_inverse TINYINT UNSIGNED DEFAULT 0, id_category INT DEFAULT 0, disabled_types_event TEXT,
  module_macros TEXT, min_ff_event_normal INT UNSIGNED DEFAULT 0, min_ff_event_warning INT UNSIGNED DEFAULT 0,
  min_ff_event_critical INT UNSIGNED DEFAULT 0, ff_type TINYINT UNSIGNED DEFAULT 0, each_ff TINYINT UNSIGNED DEFAULT 0,
  ff_timeout INT UNSIGNED DEFAULT 0, dynamic_interval INT UNSIGNED DEFAULT 0, dynamic_max INT DEFAULT 0, dynamic_min INT DEFAULT 0,
  dynamic_next BIGINT NOT NULL DEFAULT 0, dynamic_two_tailed TINYINT UNSIGNED DEFAULT 0, prediction_sample_window INT DEFAULT 0,
  prediction_samples INT DEFAULT 0, prediction_threshold INT DEFAULT 0, parent_module_id INT UNSIGNED NOT NULL DEFAULT 0, cps INT NOT NULL DEFAULT 0,
  debug_content TEXT, percentage_critical TINYINT UNSIGNED DEFAULT 0, percentage_warning TINYINT UNSIGNED DEFAULT 0,
  warning_time INT UNSIGNED DEFAULT 0, disabled_by_safe_mode TINYINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (id_agente_modulo), KEY main_idx (id_agente_modulo, id_agente), KEY tam_agente (id_agente), KEY id_tipo_modulo (id_tipo_modulo),
  KEY disabled (disabled), KEY module (id_modulo), KEY nombre (nombre(255)), KEY module_group (id_module_group) USING BTREE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const TSERVER = `CREATE TABLE IF NOT EXISTS tserver (
  id_server INT UNSIGNED NOT NULL AUTO_INCREMENT, name VARCHAR(100) NOT NULL DEFAULT '', ip_address VARCHAR(100) NOT NULL DEFAULT '',
  status INT NOT NULL DEFAULT 0, laststart DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00', keepalive DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00',
  snmp_server TINYINT UNSIGNED NOT NULL DEFAULT 0, network_server TINYINT UNSIGNED NOT NULL DEFAULT 0, data_server TINYINT UNSIGNED NOT NULL DEFAULT 0,
  master TINYINT UNSIGNED NOT NULL DEFAULT 0, checksum TINYINT UNSIGNED NOT NULL DEFAULT 0, description VARCHAR(255) DEFAULT NULL,
  recon_server TINYINT UNSIGNED NOT NULL DEFAULT 0, version VARCHAR(25) NOT NULL DEFAULT '', plugin_server TINYINT UNSIGNED NOT NULL DEFAULT 0,
  prediction_server TINYINT UNSIGNED NOT NULL DEFAULT 0, wmi_server TINYINT UNSIGNED NOT NULL DEFAULT 0, export_server TINYINT UNSIGNED NOT NULL DEFAULT 0,
  server_type TINYINT UNSIGNED NOT NULL DEFAULT 0, queued_modules INT UNSIGNED NOT NULL DEFAULT 0, threads INT UNSIGNED NOT NULL DEFAULT 0,
  lag_time INT NOT NULL DEFAULT 0, lag_modules INT NOT NULL DEFAULT 0, total_modules_running INT NOT NULL DEFAULT 0, my_modules INT NOT NULL DEFAULT 0,
  server_keepalive INT NOT NULL DEFAULT 0, stat_utimestamp BIGINT NOT NULL DEFAULT 0, exec_proxy TINYINT UNSIGNED NOT NULL DEFAULT 0,
  port INT UNSIGNED NOT NULL DEFAULT 0, server_keepalive_utimestamp BIGINT NOT NULL DEFAULT 0, disabled BOOLEAN NOT NULL DEFAULT FALSE,
  PRIMARY KEY (id_server), KEY name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

/** The statements, in creation order. */
export const PANDORA_SCHEMA = [TDATABASE, TEVENTO, TAGENTE_DATOS, TAGENTE_DATOS_STRING, TAGENTE, TAGENTE_MODULO, TAGENTE_ESTADO, TSERVER];

/** The table each statement creates. */
export const PANDORA_TABLES = PANDORA_SCHEMA.map((q) => /CREATE TABLE IF NOT EXISTS (\w+)/.exec(q)![1]);
