# current: the file this item's last recorded state names, if it is still
# there; otherwise "absent". What it prints also goes to world/.trail, so a
# failed check can tell what peace was told from what it made of it.
state=absent
case "$PEACE_STORED_STATE" in
world/*)
	if [ -e "$PEACE_STORED_STATE" ]; then
		state=$PEACE_STORED_STATE
	fi
	;;
esac
echo "$PEACE_ITEM_ID current $state" >>world/.trail
echo "$state"
