#!/usr/bin/env bash
# The manual's procedure for seeding a replica, for comparison only (bench/seed.ts runs it on
# the replica of a lab): on the master, a backup into a directory and its prepare; then rsync
# over SSH into the replica's datadir, chown, start, and replication from the backup's
# coordinates. Prints "phase <name> <seconds>" lines. MASTER, REPL_USER, REPL_PASSWORD.
# shellcheck disable=SC2029 # the staging path is meant to expand here
set -euo pipefail
: "${MASTER:?}" "${REPL_USER:?}" "${REPL_PASSWORD:?}"
STAGE=/root/pandoradb.bak
now() { printf '%s' "$EPOCHREALTIME"; }
phase() { awk -v n="$1" -v a="$2" -v b="$(now)" 'BEGIN { printf "phase %s %.2f\n", n, b - a }'; }

t=$(now)
ssh "root@$MASTER" "rm -rf $STAGE && mariabackup --defaults-extra-file=/root/.my.cnf --backup --target-dir=$STAGE >/dev/null 2>&1"
phase backup "$t"
t=$(now)
ssh "root@$MASTER" "mariabackup --prepare --target-dir=$STAGE >/dev/null 2>&1"
phase prepare "$t"

t=$(now)
mariadb-admin shutdown
while mariadb-admin --connect-timeout=1 ping >/dev/null 2>&1; do sleep 0.2; done
sleep 1
mv /var/lib/mysql "/var/lib/mysql.manual.$(date +%s)"
mkdir /var/lib/mysql
rsync -a -e ssh "root@$MASTER:$STAGE/" /var/lib/mysql/
chown -R mysql:mysql /var/lib/mysql
phase rsync "$t"

t=$(now)
setsid mariadbd-safe --defaults-file=/etc/mysql/my.cnf </dev/null >/dev/null 2>&1 &
until mariadb-admin --connect-timeout=1 ping >/dev/null 2>&1; do sleep 0.2; done
info=/var/lib/mysql/xtrabackup_binlog_info
[[ -f $info ]] || info=/var/lib/mysql/mariadb_backup_binlog_info
gtid=$(awk '{ print $3 }' "$info")
mariadb <<SQL
STOP SLAVE; RESET SLAVE ALL;
SET GLOBAL gtid_slave_pos='$gtid';
CHANGE MASTER TO MASTER_HOST='$MASTER', MASTER_USER='$REPL_USER', MASTER_PASSWORD='$REPL_PASSWORD', MASTER_USE_GTID=slave_pos;
START SLAVE;
SET GLOBAL read_only=ON;
SQL
until mariadb -e 'SHOW SLAVE STATUS\G' | grep -q 'Slave_SQL_Running: Yes'; do sleep 0.2; done
phase start "$t"
ssh "root@$MASTER" "rm -rf $STAGE"
