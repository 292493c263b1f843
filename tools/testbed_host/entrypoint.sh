#!/bin/bash
# plat e2e host entrypoint: host key, authorized keys, dockerd in the background, sshd in the foreground.
set -euo pipefail

say() { echo "plat-e2e-host: $*" >&2; }

# A host key of its own for every container (the image has none).
mkdir -p /run/sshd
[ -s /etc/ssh/ssh_host_ed25519_key ] \
  || ssh-keygen -q -t ed25519 -N '' -C "root@$(hostname)" -f /etc/ssh/ssh_host_ed25519_key

# The test's public key(s), for root and for deploy (group docker).
keys=${PLAT_E2E_AUTHORIZED_KEYS:-}
if [ -r /etc/plat-e2e/authorized_keys ]; then
  keys=$(printf '%s\n%s\n' "$keys" "$(cat /etc/plat-e2e/authorized_keys)")
fi
unset PLAT_E2E_AUTHORIZED_KEYS
[ -n "${keys//[[:space:]]/}" ] || say "warning: no authorized key given; nobody can log in"
for spec in root:/root deploy:/home/deploy; do
  user=${spec%%:*} home=${spec#*:}
  install -d -m 700 -o "$user" -g "$user" "$home/.ssh"
  printf '%s\n' "$keys" | sed '/^[[:space:]]*$/d' >"$home/.ssh/authorized_keys"
  chown "$user:$user" "$home/.ssh/authorized_keys"
  chmod 600 "$home/.ssh/authorized_keys"
done

# dockerd needs iptables for its bridge networks: nft when the kernel offers it, legacy otherwise.
if ! iptables-nft -nL >/dev/null 2>&1 && iptables-legacy -nL >/dev/null 2>&1; then
  update-alternatives --quiet --set iptables /usr/sbin/iptables-legacy
  update-alternatives --quiet --set ip6tables /usr/sbin/ip6tables-legacy
fi

# dockerd: storage on the tmpfs at /var/lib/docker, log in /var/log/dockerd.log.
# shellcheck disable=SC2086
dockerd ${PLAT_E2E_DOCKERD_ARGS:-} >/var/log/dockerd.log 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 600); do
  if [ -S /var/run/docker.sock ] && docker version >/dev/null 2>&1; then break; fi
  if ! kill -0 "$dockerd_pid" 2>/dev/null; then
    say "dockerd exited; last lines of /var/log/dockerd.log:"; tail -n 30 /var/log/dockerd.log >&2; exit 1
  fi
  sleep 0.1
done
if ! docker version >/dev/null 2>&1; then
  say "dockerd did not answer within 60 s"; tail -n 30 /var/log/dockerd.log >&2; exit 1
fi

# sshd in the foreground; `docker stop` stops sshd and dockerd (and so its containers) cleanly.
stop() {
  kill -TERM "$sshd_pid" "$dockerd_pid" 2>/dev/null || true
  wait "$dockerd_pid" 2>/dev/null || true
  exit 0
}
trap stop TERM INT
/usr/sbin/sshd -D -e &
sshd_pid=$!
say "ready: sshd and dockerd are up"
wait "$sshd_pid"
