"""Certificates (电子证照): signed PDF results of approved items, verifiable by anyone by QR code."""
