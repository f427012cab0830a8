"""Defaults for every host of the example site (see docs/deploy.md for every key)."""

ssh_user = "root"

# Who may reach what (nftables on PBS nodes). The deploy refuses a ruleset that would not
# allow its own SSH connection, so keep the controller inside the management networks.
firewall_management_networks = ["192.0.2.0/24"]
firewall_backup_networks = ["198.51.100.0/24"]
firewall_pve_networks = ["203.0.113.0/28"]
firewall_prometheus_networks = ["192.0.2.50/32"]
