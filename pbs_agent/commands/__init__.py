"""One module per `pbs-agent` subcommand (see pbs_agent.cli.COMMANDS)."""
