# current: the file this item's last recorded state names, if it is still
# there; otherwise "absent". Sourced by the chaos flow's current commands.
case "$PEACE_STORED_STATE" in
world/*)
	if [ -e "$PEACE_STORED_STATE" ]; then
		echo "$PEACE_STORED_STATE"
		exit 0
	fi
	;;
esac
echo absent
