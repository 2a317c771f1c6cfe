"""What the controller can choose and what it costs: variant tables and device profiles."""

from adascale_rl.catalog.device_profile import (
    Cluster,
    ComputeConfig,
    DeviceProfile,
    bundled_profile,
    bundled_profile_names,
    load_profile,
)
from adascale_rl.catalog.variant_table import VariantTable, bundled_table, bundled_table_names

__all__ = ["Cluster", "ComputeConfig", "DeviceProfile", "VariantTable", "bundled_profile", "bundled_profile_names",
           "bundled_table", "bundled_table_names", "load_profile"]
