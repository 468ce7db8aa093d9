"""GraphQL for the web screens that benefit: the dashboard (viewer), the product page and
search. Resolvers call the same screen services and upstream clients as REST, through
per-request DataLoaders, so nothing about an upstream is written twice."""
