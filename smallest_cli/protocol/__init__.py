"""Pure protocol code: request building, frame parsing, segmentation, captions. No I/O here."""
