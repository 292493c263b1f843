#!/bin/sh
# plat dev's supervisor: the dev container's main process (under docker-init).
#
# Runs the app command ("$@") in a process group of its own. SIGHUP stops that group (TERM,
# then KILL after $PLAT_DEV_GRACE seconds) and starts the command again: a reload costs one
# process start, not a container restart. When the app exits by itself (a syntax or compile
# error), the supervisor stays and waits for the next SIGHUP, so the next good save recovers.
#
# With PLAT_DEV_STANDBY=1 the command must know the standby protocol: started with
# PLAT_DEV_READY=<file>, it loads its runtime and frameworks (not the app's source), writes its
# pid to <file> and waits for SIGUSR2, then runs the app. The supervisor keeps one standby
# ready, so a reload skips the interpreter's start; without a ready standby it starts the
# command as usual. A standby that writes "no" to <file> cannot serve this app: no more are made.
#
# Lines "plat-dev: start N" and "plat-dev: exit N CODE" on stderr are markers `plat dev` reads
# (N = 0: a standby that ended before it was used).
#
# Traps only set a flag and end the idle `sleep`, and the main loop does the work: a signal
# that lands between two commands is never lost, and a burst of them is one restart.
set -u
child=
standby=
gen=0
want=
idle=
grace=$(( ${PLAT_DEV_GRACE:-1} * 100 ))
ready=/tmp/plat-dev-ready
use_standby=${PLAT_DEV_STANDBY:-}

trap 'want=restart; [ -z "$idle" ] || kill "$idle" 2>/dev/null' HUP
trap 'want=stop; [ -z "$idle" ] || kill "$idle" 2>/dev/null' TERM INT

# The wrapper leads a new process group and reports how the app ended; a standby's wrapper
# learns its generation from /tmp/plat-dev-gen.<its pid> when it is put to use.
wrap='g=$1; shift; "$@"; c=$?; [ "$g" != standby ] || g=$(cat "/tmp/plat-dev-gen.$$" 2>/dev/null || echo 0); echo "plat-dev: exit $g $c" >&2'

start_child() {
  gen=$((gen + 1))
  echo "plat-dev: start $gen" >&2
  setsid sh -c "$wrap" plat-dev "$gen" "$@" &
  child=$!
}

spawn_standby() {
  [ -n "$use_standby" ] && [ -z "$standby" ] || return 0
  rm -f "$ready"
  PLAT_DEV_READY=$ready setsid sh -c "$wrap" plat-dev standby "$@" &
  standby=$!
}

use_ready_standby() {
  # The standby becomes the app if it is waiting (its pid is in the file), else it is dropped.
  [ -n "$standby" ] || return 1
  # One still getting ready is nearer to serving than a fresh start: give it a moment.
  i=0
  while [ ! -s "$ready" ] && kill -0 "$standby" 2>/dev/null && [ "$i" -lt 100 ]; do
    i=$((i + 1))
    sleep 0.01
  done
  pid=$(cat "$ready" 2>/dev/null || true)
  if [ "$pid" = no ]; then use_standby=; fi
  case $pid in
    '' | no | *[!0-9]*) stop_group "$standby"; standby=; return 1 ;;
  esac
  gen=$((gen + 1))
  echo "$gen" > "/tmp/plat-dev-gen.$standby"
  echo "plat-dev: start $gen" >&2
  kill -USR2 "$pid" 2>/dev/null || { stop_group "$standby"; standby=; return 1; }
  child=$standby
  standby=
  rm -f "$ready"
}

stop_group() {
  g=$1
  # Until setsid has run, the child has no group of its own and still carries this shell's
  # traps (a TERM would be lost): wait for the group, or for the child to be gone.
  i=0
  until kill -0 "-$g" 2>/dev/null || ! kill -0 "$g" 2>/dev/null || [ "$i" -ge 300 ]; do
    i=$((i + 1))
    sleep 0.01
  done
  # `kill -SIG -PGID`, not `kill -- -PGID`: dash's kill has no `--`.
  kill -TERM "-$g" 2>/dev/null || kill -TERM "$g" 2>/dev/null
  i=0
  while kill -0 "-$g" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -ne "$grace" ] || kill -KILL "-$g" 2>/dev/null
    sleep 0.01
  done
  wait "$g" 2>/dev/null
  rm -f "/tmp/plat-dev-gen.$g"
}

start_child "$@"
spawn_standby "$@"
while :; do
  sleep 86400 &
  idle=$!
  [ -n "$want" ] || wait "$idle"
  kill "$idle" 2>/dev/null
  wait "$idle" 2>/dev/null
  idle=
  case $want in
    restart)
      want=
      if [ -n "$child" ]; then stop_group "$child"; child=; fi
      use_ready_standby || start_child "$@"
      spawn_standby "$@"
      ;;
    stop)
      for g in $child $standby; do stop_group "$g"; done
      exit 0
      ;;
  esac
done
