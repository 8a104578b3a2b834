"""What the service's answers earned: exposures tied to the clicks and purchases they led to."""
