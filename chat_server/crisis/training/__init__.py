"""Train, evaluate and calibrate the learned crisis layer on the writers' corpus.

Needs the ``train`` extra (scikit-learn, numpy); the server never imports this package.
``python -m chat_server.crisis.training build`` (``make crisis-model``) writes
``chat_server/crisis/data/crisis_model.tsv.gz``; ``report`` prints the leave-one-writer-out
figures of docs/CRISIS.md. Output is counts and ids only, never corpus text.

One job a module: ``corpus`` (the training items), ``fitting`` (the three heads and the
weights file), ``calibration`` (thresholds), ``evaluation`` (leave one writer out),
``figures`` (recall and false alarms), ``cli`` (the command line, run by ``__main__``).
"""
