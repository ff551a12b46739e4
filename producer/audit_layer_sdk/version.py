SDK_NAME = "audit-layer-python"
SDK_VERSION = "0.1.0"
