"""Bench-only settings: production's, with the baselines mounted beside the real API.

Nothing here changes how the app behaves; only the URLconf grows.
"""

import warnings

from config.settings.production import *  # noqa: F403

# The API serves no static files; production collects them, the bench need not.
warnings.filterwarnings("ignore", message="No directory at: ")

ROOT_URLCONF = "bench.urls"
