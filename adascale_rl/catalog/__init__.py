"""What the controller can choose and what it costs: variant tables and device profiles."""

from adascale_rl.catalog.device_profile import Cluster, ComputeConfig, DeviceProfile, bundled_profile, load_profile
from adascale_rl.catalog.variant_table import VariantTable, bundled_table

__all__ = ["Cluster", "ComputeConfig", "DeviceProfile", "VariantTable", "bundled_profile", "bundled_table",
           "load_profile"]
