# The service user: a system account with no login shell; its home is the store.
getent group etcd-monitor >/dev/null || groupadd -r etcd-monitor
getent passwd etcd-monitor >/dev/null || \
    useradd -r -g etcd-monitor -d /var/lib/etcd-monitor -s /sbin/nologin \
        -c "etcd-monitor" etcd-monitor
exit 0
