"""Test support: real loopback servers, wheel builders and throwaway virtualenvs."""
