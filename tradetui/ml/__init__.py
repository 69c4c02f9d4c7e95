"""The ML filter: features, labels, training and the model inside the decision."""
