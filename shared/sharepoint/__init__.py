"""The one Microsoft Graph client for SharePoint document binaries (a plain library), and SharePoint's
name rules (``names``)."""

from .client import (ContentMismatch, DriveItem, FRAGMENT_QUANTUM, GraphError, GraphThrottled, ItemExists,
                     SharePointClient, TokenProvider, UploadVerificationError)
from .quickxorhash import QuickXorHash, quickxorhash_b64

__all__ = ["ContentMismatch", "DriveItem", "FRAGMENT_QUANTUM", "GraphError", "GraphThrottled", "ItemExists",
           "QuickXorHash", "SharePointClient", "TokenProvider", "UploadVerificationError", "quickxorhash_b64"]
