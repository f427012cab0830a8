"""pbs-fleet pyinfra deploys: reusable steps (``deploys.steps``), facts, operations, schema."""
