"""The operator systems' work queue: activating, suspending or terminating a SIM in the network.
Below `numbers`: the status machine queues work as it moves numbers."""
