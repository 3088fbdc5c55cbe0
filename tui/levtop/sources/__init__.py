"""Sources of data: one module per source (ccxt venues, liquidation streams, sentiment,
stablecoins, dataset replay), each yielding Samples and reporting its health."""
