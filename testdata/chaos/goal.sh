# goal: the file already recorded, if it is still there, so an applied item
# is unchanged on the next run; otherwise "present": any new file will do.
state=present
case "$PEACE_STORED_STATE" in
world/*)
	if [ -e "$PEACE_STORED_STATE" ]; then
		state=$PEACE_STORED_STATE
	fi
	;;
esac
echo "$PEACE_ITEM_ID goal $state" >>world/.trail
echo "$state"
