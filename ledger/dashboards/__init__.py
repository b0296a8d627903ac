"""Internal dashboards in the admin: the credits overview and the health page."""
