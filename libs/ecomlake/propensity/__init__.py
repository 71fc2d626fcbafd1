"""Churn and purchase propensity: MLlib classifiers on gold.user_features + gold.labels (``ecomlake propensity``)."""
