"""Web screen services: called by the REST handlers and the GraphQL resolvers alike."""
