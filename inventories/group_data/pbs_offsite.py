"""The off-site PBS node: pulls from the main site (sync jobs come with the PBS config)."""

pbs_repository = "no-subscription"
config_backup_keep = 60
agent_settings = {"web.listen-address": ":9797"}
