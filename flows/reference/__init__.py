"""FFOMS NSI reference classifiers: safe XML loading, storage, validity rules."""
from flows.reference.nsi import (
    CLASSIFIERS,
    Classifier,
    Reference,
    RefFile,
    file_metadata,
    load_classifier,
    load_reference,
    store_reference,
)
from flows.reference.validity import (
    excluded_codes,
    registry_status,
    valid_codes,
    valid_on,
    valid_on_expr,
)
from flows.reference.xmlsafe import MAX_XML_BYTES

__all__ = [
    "CLASSIFIERS", "Classifier", "MAX_XML_BYTES", "RefFile", "Reference", "excluded_codes",
    "file_metadata", "load_classifier", "load_reference", "registry_status", "store_reference",
    "valid_codes", "valid_on", "valid_on_expr",
]
