# Runs as root in a one-off container of the two-major image, with the node's
# data volume mounted at $VOL. Every value arrives in the environment,
# validated by the Go side; nothing here is built from them as code.
#
# Lines starting with "@@" are for the Go side: "@@step TEXT" (progress),
# "@@reason TEXT" (PostgreSQL's own words on a failure), "@@space NEED FREE".
# Exit status: 0 done, 3 refused (server running / wrong data), 4 pg_upgrade
# or initdb failed, 5 rollback refused, 6 inconsistent state; others are
# unexpected.
#
# Inside the volume ($VOL):
#   .citusgen-upgrade/         the stash, while an upgrade is undone or kept
#     params                   "OLD NEW LINK": a rerun must be the same job
#     phase                    written atomically (temp file + rename)
#     old/                     old data moved here by renames when it sat at
#                              the volume root (majors < LAYOUT_MAJOR)
#     new/                     the new cluster while it is built, for a new
#                              major < LAYOUT_MAJOR (moved up at the end)
#   NN/docker                  data of a major >= LAYOUT_MAJOR
# Phases: stashing -> stashed -> upgraded -> placing -> done; rollback
# goes through rb-unplace -> rb-restore; DropOld through dropping.

set -u
unset PGDATA PGHOST PGPORT PGDATABASE PGUSER
umask 077

S="$VOL/.citusgen-upgrade"
OLDBIN="/usr/lib/postgresql/$OLD_MAJOR/bin"
NEWBIN="/usr/lib/postgresql/$NEW_MAJOR/bin"
WORK=/tmp/citusgen-pgupgrade

step() { echo "@@step $*"; }
reason() { printf '%s\n' "$@" | sed -e 's/^/@@reason /'; }
fail() { local code=$1; shift; reason "$@"; exit "$code"; }
as_pg() { gosu postgres "$@" </dev/null; }

# Where each cluster is, from the phase.
old_dir() {
	if [ "$OLD_MAJOR" -ge "$LAYOUT_MAJOR" ]; then
		echo "$VOL/$OLD_MAJOR/docker"
	elif [ -d "$S" ] && [ "$(phase)" != stashing ]; then
		echo "$S/old"
	else
		echo "$VOL"
	fi
}
new_build_dir() {
	if [ "$NEW_MAJOR" -ge "$LAYOUT_MAJOR" ]; then
		echo "$VOL/$NEW_MAJOR/docker"
	else
		echo "$S/new"
	fi
}
new_final_dir() {
	if [ "$NEW_MAJOR" -ge "$LAYOUT_MAJOR" ]; then
		echo "$VOL/$NEW_MAJOR/docker"
	else
		echo "$VOL"
	fi
}

phase() { cat "$S/phase" 2>/dev/null; }
set_phase() {
	printf '%s\n' "$1" >"$S/phase.tmp" && sync "$S/phase.tmp" && mv -f "$S/phase.tmp" "$S/phase" && sync "$S" || exit 1
}

# Moves every entry of directory $1 (but the stash and lost+found, which
# belongs to the filesystem) into directory $2 by renames: cheap, and a
# rerun after a kill moves what is left.
move_entries() {
	find "$1" -mindepth 1 -maxdepth 1 ! -name .citusgen-upgrade ! -name lost+found -exec mv -t "$2" -- {} + || exit 1
	sync "$2"
}

pg_version() { cat "$1/PG_VERSION" 2>/dev/null; }

check_params() {
	[ -f "$S/params" ] || return 0
	local want="$OLD_MAJOR $NEW_MAJOR $LINK"
	local got
	got=$(cat "$S/params")
	if [ "$got" != "$want" ]; then
		fail 6 "the volume holds an unfinished upgrade with other settings (old major, new major, link: $got; this run: $want): finish or roll back that one with the same settings"
	fi
}

# A stash without its phase file is one whose removal was cut short: finish
# that removal, unless old data is still in it.
tidy_stash() {
	[ -d "$S" ] && [ ! -f "$S/phase" ] || return 0
	if [ -n "$(ls -A "$S/old" 2>/dev/null)" ]; then
		fail 6 "$S has old data but no phase file: inspect it by hand"
	fi
	rm -rf -- "$S"
}

# The old cluster after a run killed while pg_upgrade had it started or
# linked: give back pg_control (link mode renames it once linking starts;
# pg_upgrade's docs: the old cluster is usable again if the new one was
# never started) and let it recover and shut down cleanly, as pg_upgrade
# requires.
repair_old() {
	local d=$1
	if [ -f "$d/global/pg_control.old" ] && [ ! -f "$d/global/pg_control" ]; then
		mv "$d/global/pg_control.old" "$d/global/pg_control" || exit 1
	fi
	# No container runs on the volume (the Go side checked), and the old
	# server's own pid file made Upgrade refuse before the stash existed:
	# a pid file now is one pg_upgrade's server left.
	rm -f "$d/postmaster.pid"
	if ! LC_ALL=C "$OLDBIN/pg_controldata" "$d" | grep -q '^Database cluster state: *shut down$'; then
		step "recovering the old cluster after an interrupted run"
		as_pg "$OLDBIN/pg_ctl" -D "$d" -w -t 600 -l "$WORK/recover.log" \
			-o "-c listen_addresses= -c unix_socket_directories=$WORK -c hba_file=$WORK/hba.conf" start >/dev/null &&
			as_pg "$OLDBIN/pg_ctl" -D "$d" -w -t 600 -m fast stop >/dev/null ||
			fail 4 "recovering the old cluster failed:" "$(tail -n 20 "$WORK/recover.log" 2>/dev/null)"
	fi
}

setup_work() {
	rm -rf "$WORK" && mkdir -p "$WORK" && chown postgres: "$WORK" && chmod 700 "$WORK" || exit 1
	# pg_upgrade connects as the install user over the socket of the servers
	# it starts; this hba (given to both with -c hba_file) needs no password.
	printf 'local all all trust\n' >"$WORK/hba.conf" && chown postgres: "$WORK/hba.conf" || exit 1
}

initdb_new() {
	local dir=$1
	local args=(-D "$dir" -U "$SUPERUSER" -E "$INIT_ENCODING" --lc-collate="$INIT_COLLATE" --lc-ctype="$INIT_CTYPE")
	if [ "$NEW_MAJOR" -ge 15 ]; then
		args+=(--locale-provider="$INIT_PROVIDER")
		[ -n "$INIT_ICU_LOCALE" ] && args+=(--icu-locale="$INIT_ICU_LOCALE")
		[ -n "$INIT_BUILTIN_LOCALE" ] && args+=(--builtin-locale="$INIT_BUILTIN_LOCALE")
	fi
	if [ "$INIT_CHECKSUMS" = 1 ]; then
		args+=(--data-checksums)
	elif [ "$NEW_MAJOR" -ge 18 ]; then
		args+=(--no-data-checksums) # 18's default is on; pg_upgrade refuses a mismatch
	fi
	[ -n "$INIT_WALSEG" ] && args+=(--wal-segsize="$INIT_WALSEG")
	mkdir -p "$dir" && chown postgres: "$dir" "$(dirname "$dir")" && chmod 700 "$dir" || exit 1
	if ! as_pg "$NEWBIN/initdb" "${args[@]}" >"$WORK/initdb.log" 2>&1; then
		fail 4 "initdb of the new cluster failed:" "$(grep -Ei 'error|fatal|invalid' "$WORK/initdb.log" | head -n 20)"
	fi
}

# What pg_upgrade said, condensed: its own failure lines and the errors in
# the log files it names.
pg_upgrade_reason() {
	local out=$1
	# pg_upgrade prints "*failure*" and then what went wrong; without it
	# (a fatal error before any step), its last lines.
	if grep -q '^\*failure\*' "$out"; then
		reason "$(sed -n '/^\*failure\*/,$p' "$out" | sed 1d | grep -Ev '^\s*$')"
	else
		reason "$(grep -Ev '^\s*$' "$out" | tail -n 8)"
	fi
	local f
	for f in $(grep -o '"/[^"]*"' "$out" | tr -d '"' | sort -u); do
		[ -f "$f" ] && [ "${f%.log}" != "$f" ] || continue
		local lines
		lines=$(grep -E 'ERROR|FATAL|error:|fatal:' "$f" | tail -n 8)
		[ -n "$lines" ] && reason "$(basename "$f"):" "$lines"
	done
}

# pg_upgrade as the postgres user in $WORK (it writes there), with the trust
# hba for every server it starts.
run_pg_upgrade() {
	local out=$1
	shift
	(cd "$WORK" && gosu postgres "$NEWBIN/pg_upgrade" \
		-b "$OLDBIN" -B "$NEWBIN" -U "$SUPERUSER" -s "$WORK" \
		-o "-c hba_file=$WORK/hba.conf" -O "-c hba_file=$WORK/hba.conf" "$@" </dev/null >"$out" 2>&1)
}

# pg_upgrade leaves these to the user: access rules, ALTER SYSTEM settings
# (Citus's ssl = on among them) and the TLS files Citus made, which those
# settings name relative to the data directory.
carry_files() {
	local from=$1 to=$2 f
	local files=(pg_hba.conf pg_ident.conf postgresql.auto.conf server.crt server.key root.crt root.crl)
	if [ -f "$from/postgresql.auto.conf" ]; then
		while IFS= read -r f; do files+=("$f"); done < <(
			sed -nE "s/^[[:space:]]*ssl_(cert|key|ca|crl)_file[[:space:]]*=[[:space:]]*'([^'/][^']*)'.*/\2/p" "$from/postgresql.auto.conf")
	fi
	for f in "${files[@]}"; do
		case $f in */* | ..*) continue ;; esac
		[ -f "$from/$f" ] && { cp -p -- "$from/$f" "$to/$f" || exit 1; }
	done
	sync "$to"
}

do_upgrade() {
	tidy_stash
	if [ ! -d "$S" ]; then
		local od
		od=$(old_dir)
		local v
		v=$(pg_version "$od")
		if [ "$v" != "$OLD_MAJOR" ]; then
			if [ "$(pg_version "$(new_final_dir)")" = "$NEW_MAJOR" ]; then
				step "already on PostgreSQL $NEW_MAJOR"
				exit 0
			fi
			fail 3 "the volume holds no PostgreSQL $OLD_MAJOR data where its image keeps it (PG_VERSION: ${v:-none})"
		fi
		if [ -e "$od/postmaster.pid" ]; then
			fail 3 "its PostgreSQL $OLD_MAJOR server is running or did not shut down cleanly (postmaster.pid is in its data directory): stop it cleanly first"
		fi
		if [ -n "$(ls -A "$od/pg_tblspc" 2>/dev/null)" ]; then
			fail 3 "it has tablespaces outside its data directory, which this upgrade does not move"
		fi
		if [ "$NEW_MAJOR" -ge "$LAYOUT_MAJOR" ] && [ -e "$VOL/$NEW_MAJOR" ]; then
			fail 3 "$VOL/$NEW_MAJOR already exists in the volume: move it away first"
		fi
		step "stashing the old data"
		# postgres (pg_upgrade) must get through the stash to the old data.
		rm -rf -- "$S.tmp" && mkdir -p "$S.tmp" && chown postgres: "$S.tmp" && chmod 700 "$S.tmp" &&
			printf '%s\n' "$OLD_MAJOR $NEW_MAJOR $LINK" >"$S.tmp/params" || exit 1
		if [ "$OLD_MAJOR" -lt "$LAYOUT_MAJOR" ]; then
			printf 'stashing\n' >"$S.tmp/phase"
			mkdir -p "$S.tmp/old" && chown postgres: "$S.tmp/old" && chmod --reference="$VOL" "$S.tmp/old" || exit 1
		else
			printf 'stashed\n' >"$S.tmp/phase"
		fi
		sync "$S.tmp" && mv "$S.tmp" "$S" && sync "$VOL" || exit 1
	fi
	check_params
	while :; do
		case $(phase) in
		stashing)
			move_entries "$VOL" "$S/old"
			set_phase stashed
			;;
		stashed)
			local od nd
			od=$(old_dir)
			nd=$(new_build_dir)
			setup_work
			repair_old "$od"
			step "initdb of the PostgreSQL $NEW_MAJOR cluster"
			rm -rf -- "$nd"
			initdb_new "$nd"
			local mode=()
			[ "$LINK" = 1 ] && mode=(--link)
			step "pg_upgrade $OLD_MAJOR to $NEW_MAJOR${mode:+ (link)}"
			if ! run_pg_upgrade "$WORK/pg_upgrade.out" -d "$od" -D "$nd" "${mode[@]}"; then
				pg_upgrade_reason "$WORK/pg_upgrade.out"
				exit 4
			fi
			set_phase upgraded
			;;
		upgraded)
			step "carrying pg_hba.conf, pg_ident.conf, postgresql.auto.conf and TLS files"
			carry_files "$(old_dir)" "$(new_build_dir)"
			if [ "$NEW_MAJOR" -ge "$LAYOUT_MAJOR" ]; then
				set_phase done
			else
				set_phase placing
			fi
			;;
		placing)
			step "moving the new cluster into place"
			move_entries "$S/new" "$VOL"
			chmod --reference="$S/new" "$VOL" && chown postgres: "$VOL" || exit 1
			set_phase done
			;;
		done)
			step "done"
			return 0
			;;
		*)
			fail 6 "an operation other than the upgrade is unfinished on this volume (phase $(phase)): finish it first"
			;;
		esac
	done
}

do_rollback() {
	tidy_stash
	if [ ! -d "$S" ]; then
		if [ "$(pg_version "$(old_dir)")" = "$OLD_MAJOR" ]; then
			step "nothing to roll back"
			exit 0
		fi
		fail 6 "no kept PostgreSQL $OLD_MAJOR data is in the volume (already dropped?): nothing to roll back to"
	fi
	check_params
	while :; do
		case $(phase) in
		done)
			if [ "$LINK" = 1 ]; then
				fail 5 "the upgrade ran in link mode and finished: the new cluster shares the old one's data files and may have been started, after which pg_upgrade's rule is that the old cluster must not be used; restore from a backup instead"
			fi
			;&
		placing)
			if [ "$NEW_MAJOR" -lt "$LAYOUT_MAJOR" ]; then
				set_phase rb-unplace
				continue
			fi
			set_phase rb-restore
			;;
		stashing | stashed | upgraded)
			set_phase rb-restore
			;;
		rb-unplace)
			step "taking the new cluster out of the volume root"
			mkdir -p "$S/new" || exit 1
			move_entries "$VOL" "$S/new"
			set_phase rb-restore
			;;
		rb-restore)
			step "removing the new cluster"
			rm -rf -- "$S/new"
			if [ "$NEW_MAJOR" -ge "$LAYOUT_MAJOR" ]; then
				rm -rf -- "$VOL/$NEW_MAJOR/docker"
				rmdir -- "$VOL/$NEW_MAJOR" 2>/dev/null
			fi
			local od
			if [ "$OLD_MAJOR" -ge "$LAYOUT_MAJOR" ]; then od="$VOL/$OLD_MAJOR/docker"; else od="$S/old"; fi
			if [ -f "$od/global/pg_control.old" ] && [ ! -f "$od/global/pg_control" ]; then
				mv "$od/global/pg_control.old" "$od/global/pg_control" || exit 1
			fi
			rm -f "$od/postmaster.pid" # left by a killed pg_upgrade (see repair_old)
			step "putting the PostgreSQL $OLD_MAJOR data back"
			if [ "$OLD_MAJOR" -lt "$LAYOUT_MAJOR" ]; then
				move_entries "$S/old" "$VOL"
				chmod --reference="$S/old" "$VOL" && chown postgres: "$VOL" || exit 1
			fi
			rm -rf -- "$S/old" "$S/new" "$S/params"
			rm -f -- "$S/phase" "$S/phase.tmp"
			rmdir -- "$S" || exit 1
			sync "$VOL"
			step "rolled back"
			return 0
			;;
		dropping)
			fail 5 "the old data is being dropped (DropOld did not finish): there is nothing whole to roll back to; run DropOld again"
			;;
		*)
			fail 6 "unknown phase $(phase) in $S"
			;;
		esac
	done
}

do_dropold() {
	tidy_stash
	if [ ! -d "$S" ]; then
		if [ "$(pg_version "$(new_final_dir)")" = "$NEW_MAJOR" ]; then
			step "no old data kept"
			exit 0
		fi
		fail 6 "the volume holds no upgraded PostgreSQL $NEW_MAJOR data"
	fi
	check_params
	case $(phase) in
	done | dropping) ;;
	*) fail 6 "the upgrade is not finished (phase $(phase)): finish it (Upgrade) or roll it back first" ;;
	esac
	set_phase dropping
	step "removing the kept PostgreSQL $OLD_MAJOR data"
	if [ "$OLD_MAJOR" -ge "$LAYOUT_MAJOR" ]; then
		rm -rf -- "$VOL/$OLD_MAJOR/docker"
		rmdir -- "$VOL/$OLD_MAJOR" 2>/dev/null
	fi
	rm -rf -- "$S/old" "$S/new" "$S/params"
	rm -f -- "$S/phase" "$S/phase.tmp"
	rmdir -- "$S" || exit 1
	sync "$VOL"
}

do_space() {
	local od
	od=$(old_dir)
	[ "$(pg_version "$od")" = "$OLD_MAJOR" ] || fail 3 "the volume holds no PostgreSQL $OLD_MAJOR data where its image keeps it"
	# A new cluster's own files (catalogs, first WAL segments, a margin).
	local base=$((64 * 1024 * 1024))
	local need
	if [ "$LINK" = 1 ]; then
		# Linked relation files cost nothing; the catalogs are rebuilt by
		# pg_dump/restore: about the old ones' size (relfilenodes < 16384
		# are the initial catalogs; the restore makes new ones of similar size).
		need=$(find "$od/base" "$od/global" -type f -printf '%f %s\n' 2>/dev/null |
			awk '{ split($1, p, /[._]/); if (p[1] ~ /^[0-9]+$/ && p[1] < 16384) s += $2 } END { printf "%d", s }')
	else
		# Copy mode copies every relation file; WAL starts afresh.
		need=$(du -sb --exclude=./pg_wal --exclude=./.citusgen-upgrade "$od" | cut -f1)
		local wal
		wal=$(du -sb "$od/pg_wal" | cut -f1)
		need=$((need - wal))
	fi
	local free
	free=$(df -B1 --output=avail "$VOL" | tail -n 1 | tr -d ' ')
	echo "@@space $((need + base)) $free"
}

# The live check: pg_upgrade --check against the running old server. It
# reads the old server's socket directory and port from postmaster.pid and
# connects to that Unix socket (host= in its connection string; it refuses
# a non-local PGHOST/PGHOSTADDR), which is in the old server's container,
# not here. A relay listens on that socket path here and forwards each
# connection to the server's host:port over the docker network; the server
# sees an ordinary TCP client and asks for the password (PGPASSWORD, given
# on stdin). The volume is mounted read-only: nothing is written to it; the
# new cluster is initdb'd in this container's /tmp.
do_check() {
	[ ! -d "$S" ] || fail 3 "an upgrade of this volume is unfinished ($S exists): finish it or roll it back"
	local od
	od=$(old_dir)
	[ "$(pg_version "$od")" = "$OLD_MAJOR" ] || fail 3 "the volume holds no PostgreSQL $OLD_MAJOR data where its image keeps it"
	[ -f "$od/postmaster.pid" ] || fail 3 "its PostgreSQL $OLD_MAJOR server is not running (no postmaster.pid): the live check needs it running"
	local port sockdir
	port=$(sed -n 4p "$od/postmaster.pid")
	sockdir=$(sed -n 5p "$od/postmaster.pid")
	case $port in '' | *[!0-9]*) fail 6 "postmaster.pid names no port" ;; esac
	case $sockdir in /*) ;; *) fail 6 "postmaster.pid names no Unix socket directory (unix_socket_directories is empty): the live check needs one" ;; esac
	setup_work
	mkdir -p "$sockdir" && chmod 1777 "$sockdir" || exit 1
	RELAY_SOCKET="$sockdir/.s.PGSQL.$port" perl -e "$RELAY_PL" 2>"$WORK/relay.log" &
	local i
	for i in $(seq 1 100); do
		[ -S "$sockdir/.s.PGSQL.$port" ] && break
		kill -0 $! 2>/dev/null || fail 6 "the socket relay did not start:" "$(cat "$WORK/relay.log")"
		sleep 0.1 # polls for a socket this container's own relay creates
	done
	step "initdb of a PostgreSQL $NEW_MAJOR cluster for the check"
	initdb_new "$WORK/new"
	step "pg_upgrade --check against the running PostgreSQL $OLD_MAJOR server"
	if ! run_pg_upgrade "$WORK/pg_upgrade.out" --check -d "$od" -D "$WORK/new"; then
		pg_upgrade_reason "$WORK/pg_upgrade.out"
		exit 4
	fi
	step "check passed"
}

case $ACTION in
upgrade) do_upgrade ;;
rollback) do_rollback ;;
dropold) do_dropold ;;
space) do_space ;;
check) do_check ;;
*) fail 6 "unknown action $ACTION" ;;
esac
