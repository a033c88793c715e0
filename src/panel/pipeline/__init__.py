"""Cards to stored reviews: jobs, validate-and-retry, runs, batches, Ray."""
