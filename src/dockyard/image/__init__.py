"""Images: references, manifests, configs, and offline base images (see ``bootstrap``)."""
