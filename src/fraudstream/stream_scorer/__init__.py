"""The stream scorer: a Faust app that enriches, scores and publishes every transaction."""
