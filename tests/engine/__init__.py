"""Tests of the dedup engine, report and demo (issue 2)."""
