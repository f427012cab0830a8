"""PBS nodes in the main site."""

pbs_repository = "no-subscription"
pbs_has_subscription = False
preflight_override = []
zfs_wipe_allow = []
zfs_arc_max_percent = 50
config_backup_dir = "/var/backups/pbs-config"
config_backup_keep = 30
agent_settings = {"web.listen-address": ":9797"}
