"""Connectors to the CRMs a business already uses (HubSpot, GoHighLevel) behind one ``CrmConnector`` Protocol."""

from nightcrew.crm.connectors.base import (
    ContactPage,
    CrmConnector,
    CrmContact,
    CrmName,
    CrmNote,
    CrmUpdate,
    WriteBackResult,
)
from nightcrew.crm.connectors.http import ApiClient, CrmApiError, RetryPolicy

__all__ = [
    "ApiClient",
    "ContactPage",
    "CrmApiError",
    "CrmConnector",
    "CrmContact",
    "CrmName",
    "CrmNote",
    "CrmUpdate",
    "RetryPolicy",
    "WriteBackResult",
]
