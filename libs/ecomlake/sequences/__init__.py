"""Event sequences for the LSTM: built in Spark from silver events, written as a Petastorm-readable dataset."""
