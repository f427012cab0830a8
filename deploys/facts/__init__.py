"""Custom pyinfra facts for the pbs-fleet deploys (one round-trip each where possible)."""
