"""Tests of the API and of the legacy-compatible data layer it stands on."""
