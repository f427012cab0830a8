"""PBS configuration as code: datastores, jobs, remotes, users/tokens/ACLs, TLS, report.

Modules: :mod:`.commands` (every ``proxmox-backup-manager`` command line), :mod:`.facts`
(current state read as JSON), :mod:`.desired` (inventory data -> desired objects),
:mod:`.operations` (create/update/remove-when-asked), :mod:`.steps` (the ``@deploy``),
:mod:`.settings` (inventory keys), :mod:`.tls`, :mod:`.keyfile`, :mod:`.report`.
"""
