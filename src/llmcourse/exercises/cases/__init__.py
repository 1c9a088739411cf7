"""One module per topic with that topic's exercise cases (`@exercise("topic.name")`)."""
