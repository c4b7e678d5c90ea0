"""Operating the service: admin verbs, keys, embedded servers, dev set-up, reports."""
