"""Qt glue: opens LandLearn's Processing dialogs; holds no engine logic."""
