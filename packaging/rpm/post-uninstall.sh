# As %systemd_postun_with_restart does: after an upgrade, restart a running
# service on the new binary. The config (%config(noreplace)) and the store stay.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart etcd-monitor.service >/dev/null 2>&1 || :
    fi
fi
exit 0
