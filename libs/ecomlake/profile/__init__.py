"""KMeans user profiles (``ecomlake profile``): segments from gold.user_features, named by rules, tracked run to run."""
