"""The REST API under /api/v1/ for the products that spend and grant credits."""
