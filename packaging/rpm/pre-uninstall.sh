# As %systemd_preun does: on the last erase (not an upgrade), stop and disable.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now etcd-monitor.service >/dev/null 2>&1 || :
fi
exit 0
