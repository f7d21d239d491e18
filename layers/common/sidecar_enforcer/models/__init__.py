"""The messages at the edges: events in (typed triggers) and findings out (statuses).

They apply the domain's rules (ARNs, names, tags); the domain never imports them.
"""
