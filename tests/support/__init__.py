"""Helpers shared by the reliability and security tests (chaos, hostile, security, fuzz)."""
