"""Microsoft Graph v1.0 emulator for SharePoint document libraries (see ``app.py``)."""

from .app import create_app, mint_token
from .middleware import ConnectionDropped, FaultRule, Faults, Throttle
from .store import FRAGMENT_QUANTUM, MAX_FRAGMENT

__all__ = ["create_app", "mint_token", "ConnectionDropped", "FaultRule", "Faults", "Throttle",
           "FRAGMENT_QUANTUM", "MAX_FRAGMENT"]
