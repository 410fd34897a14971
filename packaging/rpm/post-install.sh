# The store: 0750, the service user's. rpm does not own it, so `rpm -e` keeps it.
if [ ! -d /var/lib/etcd-monitor ]; then
    install -d -o etcd-monitor -g etcd-monitor -m 0750 /var/lib/etcd-monitor
fi
# As %systemd_post does: reload units; on a first install, apply presets.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -eq 1 ]; then
        systemctl --no-reload preset etcd-monitor.service >/dev/null 2>&1 || :
    fi
fi
exit 0
