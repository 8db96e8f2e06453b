#!/usr/bin/env bash
# server-pandora-conf.sh — sets tokens in pandora_server.conf in place.
# PANDORA_CONF: the file (must exist). Secret PANDORA_TOKENS: one `token value` per line
# (token: [a-z0-9_]+; the value is the rest of the line and may hold spaces, commas, '/', '%',
# '&', '\'). For each token: the first active line (`token …`) is replaced and further active
# ones are commented out (`#` prefix) so the server sees one value; with no active line, the
# first commented one (`#token …` / `# token …`) is replaced where it stands, keeping its
# documented place; otherwise the token is appended under one `# pandora-ha managed tokens`
# header. Every other line is kept byte for byte; owner and mode are kept (minus any access for
# others: the file holds passwords); the write is atomic; the original is saved once as
# PANDORA_CONF.pandora-ha.orig. Prints the names of changed tokens, never their values.
# Idempotent: all set already → unchanged, file untouched.
set -euo pipefail
if [[ -z "${PHA_COMMON_LOADED:-}" ]]; then
  # shellcheck source=lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
fi

require_env PANDORA_CONF PANDORA_TOKENS
PHA_SECRET_VARS=(PANDORA_TOKENS)
[[ -f "$PANDORA_CONF" ]] || die "PANDORA_CONF $PANDORA_CONF does not exist (is the Pandora FMS server installed?)"

pha_tmp_init

# --- parse the tokens: "token<TAB>value" lines in a private file (awk reads values from it:
# `awk -v` would interpret backslashes).
TOKENS=$(pha_mktemp)
declare -A seen=()
n=0
count=0
while IFS= read -r line || [[ -n "$line" ]]; do
  n=$((n + 1))
  line=${line%$'\r'}
  [[ -z "${line//[[:space:]]/}" ]] && continue
  if [[ "$line" =~ ^([a-z0-9_]+)[[:space:]]+(.*)$ ]]; then
    token=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
  else
    die "PANDORA_TOKENS line $n is not 'token value' (token: lowercase letters, digits, _)"
  fi
  [[ -z "${seen[$token]:-}" ]] || die "PANDORA_TOKENS line $n sets $token a second time"
  seen[$token]=1
  printf '%s\t%s\n' "$token" "$value" >>"$TOKENS"
  count=$((count + 1))
done <<<"$PANDORA_TOKENS"
((count > 0)) || die "PANDORA_TOKENS holds no token"

# --- compute the new file. Three passes: the tokens, the conf (where are the active and the
# commented lines of each token?), the conf again (output).
NEW=$(pha_mktemp)
CHANGED_LIST=$(pha_mktemp)
PHA_CHANGED_FILE=$CHANGED_LIST LC_ALL=C awk '
  function tok_of(line, commented) {
    # Token of an active line (commented=0) or of a commented one (commented=1), else "".
    if (commented) { if (line !~ /^#[ \t]*[a-z0-9_]+([ \t]|$)/) return ""; sub(/^#[ \t]*/, "", line) }
    else { if (line !~ /^[ \t]*[a-z0-9_]+([ \t]|$)/) return ""; sub(/^[ \t]*/, "", line) }
    match(line, /^[a-z0-9_]+/)
    return substr(line, 1, RLENGTH)
  }
  function value_of(line) { sub(/^[ \t]*[a-z0-9_]+[ \t]*/, "", line); return line }
  function mark(t) { if (!(t in changed)) { changed[t] = 1; order_changed[++nchanged] = t } }
  FNR == 1 { pass++ }
  pass == 1 { i = index($0, "\t"); t = substr($0, 1, i - 1); val[t] = substr($0, i + 1); names[++ntok] = t; next }
  pass == 2 {
    t = tok_of($0, 0); if (t in val) active[t] = 1
    t = tok_of($0, 1); if ((t in val) && !(t in first_commented)) first_commented[t] = FNR
    if ($0 == "# pandora-ha managed tokens") has_header = 1
    next
  }
  {
    t = tok_of($0, 0)
    if (t in val) {
      if (!(t in done)) {
        done[t] = 1
        want = t " " val[t]
        if (value_of($0) == val[t]) print $0; else { print want; mark(t) }
      } else {
        print "#" $0; mark(t)   # a duplicate: the server would read a second value
      }
      next
    }
    t = tok_of($0, 1)
    if ((t in val) && !(t in active) && first_commented[t] == FNR) {
      print t " " val[t]; done[t] = 1; mark(t); next
    }
    print $0
  }
  END {
    # (An empty conf file is never read in passes 2 and 3: every token is appended.)
    header = has_header
    for (k = 1; k <= ntok; k++) {
      t = names[k]
      if (t in done) continue
      if (!header) { print "# pandora-ha managed tokens"; header = 1 }
      print t " " val[t]; mark(t)
    }
    for (k = 1; k <= nchanged; k++) print order_changed[k] > ENVIRON["PHA_CHANGED_FILE"]
  }
' "$TOKENS" "$PANDORA_CONF" "$PANDORA_CONF" >"$NEW" || die "computing the new $PANDORA_CONF failed"

# The file holds passwords: keep its owner and mode, minus any access for others.
MODE=$(stat -c %a "$PANDORA_CONF")
SAFE_MODE=$(printf '%o' "$((8#$MODE & ~8#007))")
if [[ "$SAFE_MODE" != "$MODE" ]]; then
  chmod "$SAFE_MODE" "$PANDORA_CONF"
  changed "$PANDORA_CONF mode $MODE -> $SAFE_MODE (it holds passwords)"
fi
if [[ ! -s "$CHANGED_LIST" ]]; then
  unchanged "$PANDORA_CONF ($count tokens already set)"
  exit 0
fi
install_file_if_changed "$PANDORA_CONF" "$SAFE_MODE" "" <"$NEW" || true
changed "$PANDORA_CONF tokens: $(paste -sd, "$CHANGED_LIST" | sed 's/,/, /g')"
